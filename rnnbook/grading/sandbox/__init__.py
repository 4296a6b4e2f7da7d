"""The sandbox a submission runs in, both halves and the files between them.

* :mod:`~rnnbook.grading.sandbox.run`: the grader's half: start a sandbox for one submission,
  wait for it under the limits, read what it sent back.
* :mod:`~rnnbook.grading.sandbox.child`: the sandbox's half: run the code cells, answer the
  requests (``python -m rnnbook.grading.sandbox.child WORKDIR``).
* :mod:`~rnnbook.grading.sandbox.protocol`: the one definition of the files they exchange.
* :mod:`~rnnbook.grading.sandbox.isolation`: bubblewrap namespaces and cgroup limits.

This file imports nothing, so that the sandbox's half starts light.
"""
