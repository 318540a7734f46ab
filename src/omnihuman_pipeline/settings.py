"""Kedro project settings."""

from kedro.config import OmegaConfigLoader

from omnihuman_pipeline.parameter_check import MissingInputsHook, ParameterCheckHook

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    "merge_strategy": {"parameters": "soft"},
    "config_patterns": {
        "parameters": ["parameters*", "parameters*/**", "**/parameters*"],
        "weights": ["weights*", "weights*/**"],
    },
}
HOOKS = (ParameterCheckHook(), MissingInputsHook())
