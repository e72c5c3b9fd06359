"""The local lab provider: the walkthrough's hosts on this machine."""

from k8sfs.lab.lab import DEFAULT_NAME, DEFAULT_SUBNET, Lab, LabError, LabHost
from k8sfs.lab.safety import LabSafetyError, check_route

__all__ = ["DEFAULT_NAME", "DEFAULT_SUBNET", "Lab", "LabError", "LabHost", "LabSafetyError", "check_route"]
