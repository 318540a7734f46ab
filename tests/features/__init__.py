"""Tests of the feature caching package."""
