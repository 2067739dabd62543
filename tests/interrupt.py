"""A Keras callback that interrupts training as Ctrl-C would, for the resume tests."""

import keras


class StopAfter(keras.callbacks.Callback):
    """Raise KeyboardInterrupt at the end of epoch `epoch` (0-based), after Keras' own callbacks
    of that epoch have run."""

    def __init__(self, epoch: int) -> None:
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise KeyboardInterrupt
