"""The paper's Table 1 (OmniHuman-1, Lin et al. 2025), printed beside ours and always labelled as the paper's.

Measured by the authors on their models (18.7K hours of data, 480p), test sets CelebV-HQ and RAVDESS
(portrait) and CyberHost's set (half body); metrics q-align IQA / ASE, Sync-C, FID, FVD, HKV, HKC.
"""

from __future__ import annotations

SOURCE = "OmniHuman-1 (Lin et al., 2025), Table 1"
TEST_SETS = ("CelebV-HQ", "RAVDESS", "CyberHost")
COLUMNS = {
    "CelebV-HQ": ("IQA", "ASE", "Sync-C", "FID", "FVD"),
    "RAVDESS": ("IQA", "ASE", "Sync-C", "FID", "FVD"),
    "CyberHost": ("IQA", "ASE", "Sync-C", "FID", "FVD", "HKV", "HKC"),
}
HIGHER_IS_BETTER = {"IQA": True, "ASE": True, "Sync-C": True, "FID": False, "FVD": False, "HKV": None, "HKC": True}

_ROWS = {  # label: CelebV-HQ (5), RAVDESS (5), CyberHost (7); None where the paper has "-"
    "Ref Img": (3.195, 1.963, None, None, None, 4.421, 2.578, None, None, None, 3.963, 2.634, None, None, None,
                None, None),
    "0% T-Data": (3.855, 2.693, 4.299, 39.80, 47.86, 4.671, 3.053, 4.663, 18.20, 18.83, 4.262, 3.171, 6.465, 38.38,
                  45.77, 35.82, 0.871),
    "25% T-Data": (3.758, 2.571, 3.311, 37.95, 47.04, 4.652, 3.011, 3.552, 17.03, 16.00, 4.236, 3.152, 5.039, 38.36,
                   43.69, 40.39, 0.877),
    "50% T-Data": (3.717, 2.525, 3.696, 36.26, 46.22, 4.541, 2.913, 3.826, 16.92, 15.51, 4.217, 3.132, 5.591, 37.06,
                   37.95, 40.69, 0.872),
    "100% T-Data": (3.644, 2.452, 4.987, 36.01, 43.74, 4.445, 2.763, 5.092, 16.70, 15.13, 4.076, 2.959, 6.938, 33.27,
                    31.15, 43.54, 0.882),
    "IA": (3.644, 2.452, 4.987, 36.01, 43.74, 4.445, 2.763, 5.092, 16.70, 15.13, 4.076, 2.959, 6.938, 33.27, 31.15,
           43.54, 0.882),
    "IPA": (3.458, 2.279, 2.788, 38.98, 44.70, 4.275, 2.681, 2.923, 21.20, 25.05, 3.945, 2.815, 4.879, 39.60, 36.03,
            45.44, 0.822),
    "IAP, A<P": (3.556, 2.370, 4.201, 38.73, 44.63, 4.298, 2.689, 4.752, 20.79, 17.18, 3.979, 2.869, 6.765, 34.26,
                 32.79, 40.99, 0.869),
    "IAP, A>P": (3.602, 2.415, 4.934, 36.66, 43.36, 4.425, 2.796, 4.882, 17.43, 15.66, 4.055, 2.959, 6.951, 33.27,
                 31.08, 39.39, 0.886),
}
PRINCIPLE1 = ("Ref Img", "0% T-Data", "25% T-Data", "50% T-Data", "100% T-Data")
PRINCIPLE2 = ("Ref Img", "IA", "IPA", "IAP, A<P", "IAP, A>P")


def paper_rows(labels: tuple[str, ...]) -> dict[str, dict[str, dict[str, float | None]]]:
    """``{label: {test set: {metric: value}}}`` of the paper's Table 1 for the given row labels."""
    out = {}
    for label in labels:
        values = iter(_ROWS[label])
        out[label] = {ts: {m: next(values) for m in COLUMNS[ts]} for ts in TEST_SETS}
    return out
