"""A Keras-style callback that trains through a psctl server, as Elephas's
workers do.  Duck-typed: Keras is not needed, any model with
``get_weights()`` and ``set_weights(list)`` will do.

    cb = psctl.keras.PsctlCallback(psctl.Client(url), frequency="epoch")
    model.fit(x, y, epochs=10, callbacks=[cb])

At the start of training the model's weights create the server's model
if it has none (first writer wins).  Before each epoch (or batch, with
``frequency="batch"``) the callback pulls the server's weights into the
model; after it, it pushes Elephas's delta, old weights minus new, with
``update_parameters``: run the server with ``--rule elephas``.
"""

from .client import Client

__all__ = ["PsctlCallback"]


class PsctlCallback:
    """Pulls before, pushes the delta after each epoch or batch."""

    def __init__(self, client: Client, frequency: str = "epoch"):
        if frequency not in ("epoch", "batch"):
            raise ValueError("frequency is 'epoch' or 'batch', not %r"
                             % (frequency,))
        self.client = client
        self.frequency = frequency
        self.model = None
        self.params = {}
        self.pushes = 0
        self._old = None

    # Keras calls these two before training.
    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        self.params = params

    def _pull(self):
        weights = self.client.get_parameters()
        self.model.set_weights(weights)
        self._old = weights

    def _push(self):
        new = self.model.get_weights()
        self.client.update_parameters([o - n for o, n in zip(self._old, new)])
        self.pushes += 1
        self._old = None

    def on_train_begin(self, logs=None):
        weights = self.model.get_weights()
        self.client.init({"w%03d" % i: w for i, w in enumerate(weights)})

    def on_epoch_begin(self, epoch, logs=None):
        if self.frequency == "epoch":
            self._pull()

    def on_epoch_end(self, epoch, logs=None):
        if self.frequency == "epoch":
            self._push()

    def on_train_batch_begin(self, batch, logs=None):
        if self.frequency == "batch":
            self._pull()

    def on_train_batch_end(self, batch, logs=None):
        if self.frequency == "batch":
            self._push()

    # The rest of Keras's callback interface: nothing to do.
    def on_train_end(self, logs=None):
        pass

    def _noop(self, *args, **kwargs):
        pass

    on_batch_begin = on_train_batch_begin
    on_batch_end = on_train_batch_end
    on_test_begin = on_test_end = _noop
    on_test_batch_begin = on_test_batch_end = _noop
    on_predict_begin = on_predict_end = _noop
    on_predict_batch_begin = on_predict_batch_end = _noop
