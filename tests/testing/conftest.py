"""Tests of the test kit drive pytest itself (pytester): options, markers and parametrization as a suite sees them."""

pytest_plugins = ["pytester"]
