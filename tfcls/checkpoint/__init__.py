"""Checkpoints of training runs (orbax): save, resume, and load for inference."""
from tfcls.checkpoint.manager import (CheckpointManager, CheckpointMismatchError,  # noqa: F401
                                      CheckpointWriteError, check_compatible)
from tfcls.checkpoint.restore import (assign_state, checkpoint_dir, model_metadata,  # noqa: F401
                                      restore_for_inference)
from tfcls.checkpoint.state import (all_finite, optimizer_variable_paths, snapshot,  # noqa: F401
                                    variable_paths)
