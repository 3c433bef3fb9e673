"""The parts of config admission (:mod:`autolit.serve.admission` is the one door in)."""
