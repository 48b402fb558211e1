"""`shadowmesh run --kubernetes`: Services, EndpointSlices, Pod labels and Istio's (and
shadowmesh's) custom resources from the API server, as a configuration layer.

kinds.py      what is watched, and where the API serves it
client.py     kubernetes_asyncio underneath: list pages, watch streams, errors mapped once
reflector.py  one resource's list+watch loop: resourceVersion, bookmarks, 410, backoff
store.py      what the watches have seen, and what an event makes dirty
translate.py  Service + EndpointSlices + Pod labels -> ServiceEntry; custom resources -> loader
options.py    `run --kubernetes` settings (cheap to import: no client library)
run.py        starting it from `shadowmesh run`; ready once synced
source.py     coalescing events into pushes to the control plane; status; readiness
"""
