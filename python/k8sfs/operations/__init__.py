"""Day-two operations on a running cluster, each a small unit that takes a
Cluster and returns what it did (the CLI parses arguments, calls one and
prints its result): an etcd snapshot to the controller, a restore from
one, a worker removed, every host reset, a PKI directory pushed to the hosts."""
