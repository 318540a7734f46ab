"""Evaluation metrics of the paper (§4.1): FID, FVD, Sync-C/D, HKC/HKV, AKD, q-align IQA/ASE, and offline defaults.

One module per metric, each reading like its published procedure (`fid`, `fvd`, `sync`, `hands`, `keypoints`,
`qalign`, `brisque`, with `frechet` shared by FID and FVD); `suite.evaluate` runs a configured set of them over a
test set. Real metrics need their weights (`omnihuman_pipeline.weights`); without them they are reported as
unavailable. The offline defaults that run anywhere carry their own names: `brisque`, `sync_conf_mouth_envelope`,
`hkc_mediapipe`, `hkv_mediapipe`, `akd_mediapipe`.
"""
