"""vatt.core: what every vatt package shares — the config engine and TensorFlow's quiet import.

* :mod:`vatt.core.config`: typed dataclass configs, YAML, and the one override grammar;
* :mod:`vatt.core.quiet`: ``import_tensorflow_quietly`` and ``configure_cli_logging`` for the
  command-line tools.

It imports neither TensorFlow nor Keras.
"""

from vatt.core.version import __version__ as __version__
