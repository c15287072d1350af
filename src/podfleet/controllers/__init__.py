"""Control-plane controllers (replicaset, deployment, node lifecycle, garbage collector, namespace).

They are API clients only: informers feed work queues of keys, workers reconcile each key through
the `Client` seam. `ControllerManager` (manager.py) runs them all.
"""
