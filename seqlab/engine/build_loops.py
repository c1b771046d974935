"""Build the engine's C++ time loops once, so no run pays for the compile: ``python -m seqlab.engine.build_loops``.

The project's install step (``make install``) runs this; it is cached under torch's extensions directory.
"""

from seqlab.engine import ext

if __name__ == "__main__":
    module = ext.build()
    print(f"seqlab C++ time loops: {'built, ' + module.__file__ if module else 'unavailable, the Python loops run'}")
