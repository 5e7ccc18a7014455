"""`python -m kuberay_py`: the same commands as `kuberay-py`."""

from kuberay_py.cli import main

raise SystemExit(main())
