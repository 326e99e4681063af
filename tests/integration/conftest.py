import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


# Files that must not run next to another file when the suite runs side by
# side (make integration, pytest-xdist): test_stack.py starts `make run`'s
# stack on its fixed ports; test_deploy_deb.py installs and purges the
# packages on this machine (dpkg lock, system users, /usr/sbin).  They run
# after the rest, alone (make integration: -m serial).
SERIAL_FILES = {"test_stack.py", "test_deploy_deb.py"}


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "serial: runs alone, after the files run side by side")


def pytest_collection_modifyitems(config, items):
    import pytest
    for item in items:
        if os.path.basename(str(item.fspath)) in SERIAL_FILES:
            item.add_marker(pytest.mark.serial)
