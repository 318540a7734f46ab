"""Feature caching (paper §3.1–3.2): VAE latents, reference latent, audio, text and pose per clip.

``run.run_features`` turns the clip manifest into safetensors shards (``shards.FeatureStore``) once;
``loader.FeatureDataset`` streams them to training, so training never decodes video.
"""
