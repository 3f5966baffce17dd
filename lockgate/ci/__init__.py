"""``lockgate ci ...``: the small steps generated CI files and the action set call.

CI YAML and action.yml hold no logic of their own: each step is one of these commands, tested
here in Python.
"""
