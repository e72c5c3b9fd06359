"""k8sfs: build a Kubernetes cluster from scratch, the hard way, over SSH.

The SSH layer (sessions, pools, quoting) is the C++ core; this package adds
the Python face: friendly constructors, the local lab and the CLI.
"""

from k8sfs._core import (
    AuthError,
    CommandError,
    ConnectError,
    ConnectionLostError,
    ConnectOptions,
    ExecResult,
    GetResult,
    HostKeyError,
    PutResult,
    SFTPError,
    SSHError,
    TimeoutError,
    join_command,
    quote,
    resolve_options,
)
from k8sfs.ssh import Pool, Session

__all__ = [
    "AuthError",
    "CommandError",
    "ConnectError",
    "ConnectionLostError",
    "ConnectOptions",
    "ExecResult",
    "GetResult",
    "HostKeyError",
    "Pool",
    "PutResult",
    "SFTPError",
    "SSHError",
    "Session",
    "TimeoutError",
    "join_command",
    "quote",
    "resolve_options",
]
__version__ = "0.1.0"
