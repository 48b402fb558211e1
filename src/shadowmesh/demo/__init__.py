"""`shadowmesh demo`: the Istio "Mirroring" task with real httpbin v1 and v2, in one command.

manifests.py  the task's YAML, written to the working directory
backends.py   httpbin v1 and v2 under gunicorn, each with its own access log
proxy.py      `shadowmesh run` as a child process, and applying YAML through its admin API
processes.py  the child processes and stopping all of them, whatever happens
logs.py       reading the httpbin and proxy access logs
checks.py     what each step claims, checked against those logs
output.py     the printed walkthrough (plain text, colour on a terminal)
story.py      the steps: default route, mirror, where things are
commands.py   the `shadowmesh demo` command
"""


class DemoError(Exception):
    """A step could not be carried out; the message says what happened and what to look at."""
