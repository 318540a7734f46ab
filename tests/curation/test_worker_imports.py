"""A curate worker loads only what it uses: every worker process pays its imports at start."""

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# Build the default scorers in a fresh interpreter, set them up and score a talking-head clip with audio (so
# every scorer, the gated ones included, runs), then list the heavy packages that ended up imported.
_SCRIPT = """
import json, sys
import numpy as np, yaml
import cv2, importlib.util, os
skimage_dir = importlib.util.find_spec("skimage").submodule_search_locations[0]  # the photo, not the package
face = cv2.resize(cv2.imread(os.path.join(skimage_dir, "data", "astronaut.png"))[..., ::-1], (256, 256))
from omnihuman_pipeline.corpus.synth import speech_like_audio
audio = speech_like_audio(2.0, 16000, seed=0).astype(np.float32)
preloaded = set(sys.modules)
import omnihuman_pipeline.curation.video_task  # what a spawned worker unpickles its task from
from omnihuman_pipeline.scoring.base import AnalysisClip
from omnihuman_pipeline.scoring.registry import build_scorers, score_clip, setup_scorers

scorers = setup_scorers(build_scorers(yaml.safe_load(open("conf/base/parameters_curate.yml"))["scorers"]))
frames = np.stack([np.roll(face, i % 3, axis=1) for i in range(50)])
row = score_clip(AnalysisClip(frames, 25.0, audio, 16000, "c"), scorers)
heavy = ("pandas", "scipy", "sklearn", "torch", "skimage", "pyarrow", "matplotlib", "sounddevice")
late = {m.split(".")[0] for m in set(sys.modules) - preloaded} & set(heavy)
late |= {m for m in sys.modules if m.startswith("mediapipe.tasks.python.")}  # the Tasks API: unused
print(json.dumps({"late": sorted(late),
                  "errors": {k: v for k, v in row.items() if k.endswith("_error") and v}}))
"""


def test_a_set_up_worker_scoring_a_clip_imports_no_pandas_scipy_or_matplotlib():
    """pandas (~0.3 s), scipy.optimize (~0.25 s), matplotlib (~0.3 s, through MediaPipe), MediaPipe's Tasks API
    (75 ms with PortAudio's sounddevice) and the like would be imported by every worker for nothing."""
    out = subprocess.run([sys.executable, "-c", _SCRIPT], cwd=REPO, capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["errors"] == {}
    assert result["late"] == []


_MATPLOTLIB_AFTER_MEDIAPIPE = """
import json, sys
from omnihuman_pipeline.scoring._mediapipe import import_mediapipe
mp = import_mediapipe()
before = "matplotlib" in sys.modules or "matplotlib.pyplot" in sys.modules
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.figure import Figure
print(json.dumps({"before": before, "real": plt.figure is sys.modules["matplotlib.pyplot"].figure,
                  "mediapipe_sees_real": mp.solutions.drawing_utils.plt.figure is plt.figure,
                  "figure": isinstance(plt.figure(), Figure)}))
"""


def test_mediapipe_without_matplotlib_then_the_real_matplotlib():
    """MediaPipe imports without matplotlib; a later `import matplotlib.pyplot` is the real module, and MediaPipe's
    own pyplot reference reaches it on use."""
    out = subprocess.run([sys.executable, "-c", _MATPLOTLIB_AFTER_MEDIAPIPE], cwd=REPO, capture_output=True,
                         text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {
        "before": False, "real": True, "mediapipe_sees_real": True, "figure": True}


_TASKS_AFTER_MEDIAPIPE = """
import json, sys
from omnihuman_pipeline.scoring._mediapipe import import_mediapipe
mp = import_mediapipe()
before = sorted(m for m in sys.modules if m.startswith("mediapipe.tasks"))
landmarker = mp.tasks.vision.FaceLandmarker  # MediaPipe's own `tasks` reference
from mediapipe.tasks.python.audio import AudioClassifier
from mediapipe.tasks.python import vision
print(json.dumps({"before": before, "same": landmarker is vision.FaceLandmarker,
                  "audio": AudioClassifier.__module__}))
"""


def test_mediapipe_without_its_tasks_api_then_the_real_one():
    """MediaPipe imports without its Tasks API; `mp.tasks` and later imports of `mediapipe.tasks.python` reach the
    real modules."""
    out = subprocess.run([sys.executable, "-c", _TASKS_AFTER_MEDIAPIPE], cwd=REPO, capture_output=True,
                         text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {
        "before": [], "same": True, "audio": "mediapipe.tasks.python.audio.audio_classifier"}
