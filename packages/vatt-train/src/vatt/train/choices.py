"""The named choices of a run shared by the config and the ``vatt-train`` command line.

Kept free of TensorFlow so that ``vatt-train --help`` starts at once.
"""

#: What a run does: ``vatt-train pretrain`` or ``vatt-train finetune`` (``config.mode``).
MODES = ("pretrain", "finetune")
#: The tf.distribute strategies of the original's ``--strategy_type`` (``config.strategy.type``).
STRATEGY_TYPES = ("one_device", "mirrored", "multi_worker_mirrored", "tpu")
