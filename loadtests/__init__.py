"""Load tests: a locust suite that drives the service over HTTP as hospital billing systems do.

Also the seeded claim generator the suite shares with the in-process engine benchmark
(`python -m loadtests.bench`) and the bulk prefill.
"""
