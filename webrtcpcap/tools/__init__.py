"""Tools over whole captures: anonymised copies, endpoint dumps opened as captures.
"""
