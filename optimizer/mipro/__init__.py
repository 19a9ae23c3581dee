"""MIPROv2, DSPy's optimizer, wired to our evaluation engine: the phased optimizer (``phased.py``), its
independent steps run at once (``concurrent.py``) and our stand-ins inside DSPy's modules (``stand_ins.py``).
"""
