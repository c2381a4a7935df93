"""Command-line entry points, and the only ones: ``python -m pneumothorax.commands.<name>``.

``raw_setup`` (make sample), ``deid_key`` (make key), ``summary`` (make run's last lines),
``raw_manifest`` (the first stage of dvc.yaml) and ``sample`` (a synthetic sample of one's
own). Each writes its result to stdout (``sys.stdout.write``) and a user error as one
``Error: ...`` line to stderr with exit status 1; progress goes through :mod:`logging`. The
work itself lives in the packages below (raw/, dicom/, ...), importable without a command.
"""
