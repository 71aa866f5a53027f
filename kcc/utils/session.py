"""clear_session(): start naming afresh, as in a new process."""


def clear_session():
    """Reset the auto-name counters, so the next Dense is `dense_1` again.

    Existing layers and models keep their names and weights; only new names restart.
    """
    from kcc.frontend import naming   # deferred: kcc.utils must not pull in the frontend
    from kcc import metrics
    naming.reset_names()
    metrics._AUTO_NAMES.clear()
