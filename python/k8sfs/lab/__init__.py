"""The local lab provider: a spec's hosts (by default the walkthrough's) on this machine."""

from k8sfs.lab.lab import CLUSTERS_ROOT, DEFAULT_NAME, DEFAULT_SUBNET, Lab
from k8sfs.lab.layout import LabHost
from k8sfs.lab.processes import LabError
from k8sfs.lab.safety import LabSafetyError, check_route

__all__ = [
    "CLUSTERS_ROOT",
    "DEFAULT_NAME",
    "DEFAULT_SUBNET",
    "Lab",
    "LabError",
    "LabHost",
    "LabSafetyError",
    "check_route",
]
