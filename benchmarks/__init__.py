"""cityid benchmarks: ``python -m benchmarks [--quick] [--json PATH] [--only NAME ...]`` (``./run bench``).

One module per figure family (verify, qr_size, issuance, statuslist, robustness, app); each
has ``run(mode) -> Family`` (mode "smoke", "quick" or "full").  Timing helpers live in ``timing``, the table and JSON in ``report``.
"""
