"""Checks on the Kubernetes Job that `llmbench cluster k8s` prints, beyond what
kubernetes-validate's schemas catch (enum values, the indexed-job wiring).

Usage: python check_k8s.py job.yaml
"""
import sys

import yaml

job = yaml.safe_load(open(sys.argv[1]))
spec = job["spec"]
assert job["apiVersion"] == "batch/v1" and job["kind"] == "Job"
assert spec["completionMode"] in ("NonIndexed", "Indexed") and spec["completionMode"] == "Indexed"
assert spec["completions"] == spec["parallelism"] >= 1
assert spec["backoffLimitPerIndex"] == 0 and spec["maxFailedIndexes"] == 0
for rule in spec["podFailurePolicy"]["rules"]:
    assert rule["action"] in ("FailJob", "FailIndex", "Ignore", "Count"), rule
    codes = rule["onExitCodes"]
    assert codes["operator"] in ("In", "NotIn"), codes
pod = spec["template"]["spec"]
assert pod["restartPolicy"] in ("Never", "OnFailure") and pod["restartPolicy"] == "Never"
names = {c["name"] for c in pod["containers"]}
assert spec["podFailurePolicy"]["rules"][0]["onExitCodes"]["containerName"] in names
c = pod["containers"][0]
env = {e["name"]: e["value"] for e in c["env"]}
assert env["LLMBENCH_SHARDS"] == str(spec["completions"])
assert any("$(JOB_COMPLETION_INDEX)" in a for a in c["args"])
assert "--start-at" in c["args"] and "--seed" in c["args"]
mounts = {m["name"] for m in c["volumeMounts"]}
assert mounts <= {v["name"] for v in pod["volumes"]}
print("k8s: manifest checks passed")
