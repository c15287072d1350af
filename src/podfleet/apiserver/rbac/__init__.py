"""Role-based access control as kube-apiserver's RBAC authorizer and registry do it.

`evaluate` (rule matching, the indexed `Policy`, rules_for), `escalation` (you cannot grant what
you do not hold unless you may `escalate`/`bind`), `bootstrap_policy` (the default cluster roles
and bindings) and `authorizer` (`RBACAuthorizer`, kept current from watches of the four kinds).
Only `authorizer` touches the API (through a client); the rest is pure.
"""
