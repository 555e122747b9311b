"""Classifier heads shared by every family; logits always come out in float32."""
import tensorflow as tf
import tf_keras

from tfcls.layers.activations import get_activation
from tfcls.layers.noise import StatelessDropout
from tfcls.layers.pooling import AdaptiveAvgPool2D, GlobalPool


class ClassifierHead(tf_keras.layers.Layer):
    """Global pool -> [norm] -> [pre-logits linear + act] -> dropout -> linear classifier.
    ``num_classes=0`` leaves the pooled (normalized, pre-logit) features.

    ``norm="layer"`` puts a LayerNormalization (epsilon ``norm_eps``) on the pooled features, as
    ConvNeXt's head does (Liu et al., 2022). ``pre_logits_width`` adds a linear layer (with bias;
    a 1x1 conv on the pooled map) and ``pre_logits_act`` after the pool, before the dropout:
    MobileNet v3's and GhostNet's head; it stays when ``num_classes=0``. By default, neither.
    """

    def __init__(self, num_classes, pool_type="avg", drop_rate=0.0, use_bias=True, norm=None,
                 norm_eps=1e-6, pre_logits_width=None, pre_logits_act=None, **kwargs):
        super().__init__(**kwargs)
        if norm not in (None, "layer"):
            raise ValueError(f"ClassifierHead norm must be None or 'layer', got {norm!r}.")
        self.num_classes = int(num_classes)
        self.pool_type = pool_type
        self.drop_rate = float(drop_rate)
        self.use_bias = use_bias
        self.norm_type, self.norm_eps = norm, float(norm_eps)
        self.pre_logits_width, self.pre_logits_act = pre_logits_width, pre_logits_act
        self.pool = GlobalPool(pool_type, name="pool")
        self.norm = (tf_keras.layers.LayerNormalization(epsilon=self.norm_eps, name="norm")
                     if norm == "layer" else None)
        self.pre_logits = (tf_keras.layers.Dense(pre_logits_width, name="pre_logits")
                           if pre_logits_width else None)
        self.pre_logits_act_fn = get_activation(pre_logits_act)
        self.dropout = StatelessDropout(self.drop_rate, name="dropout")
        self.fc = self._make_fc(self.num_classes)

    def _make_fc(self, num_classes):
        if num_classes <= 0:
            return None
        return tf_keras.layers.Dense(num_classes, use_bias=self.use_bias, name="fc")

    def call(self, x, pre_logits=False, training=None):
        x = self.pool(x)
        if self.norm is not None:
            x = self.norm(x)
        if self.pre_logits is not None:
            x = self.pre_logits(x)
            if self.pre_logits_act_fn is not None:
                x = self.pre_logits_act_fn(x)
        if pre_logits or self.fc is None:
            return x
        x = self.dropout(x, training=training)
        return tf.cast(self.fc(x), tf.float32)

    def reset(self, num_classes, in_features):
        """Replaces the classifier by a new, freshly initialized one for ``num_classes``."""
        self.num_classes = int(num_classes)
        self.fc = self._make_fc(self.num_classes)
        if self.fc is not None:
            self.fc.build((None, self.pre_logits_width or in_features))

    def get_config(self):
        config = {**super().get_config(), "num_classes": self.num_classes,
                  "pool_type": self.pool_type, "drop_rate": self.drop_rate,
                  "use_bias": self.use_bias, "norm": self.norm_type, "norm_eps": self.norm_eps}
        if self.pre_logits_width:
            config.update(pre_logits_width=self.pre_logits_width,
                          pre_logits_act=self.pre_logits_act)
        return config


class MlpClassifierHead(tf_keras.layers.Layer):
    """VGG-style head (Simonyan & Zisserman, 2014): adaptive pool to a grid, flatten, hidden
    fully-connected layers with ReLU and dropout, then the classifier.

    With ``num_classes=0`` the hidden layers are dropped too and the head returns globally
    average-pooled features, as ``include_top=False, pooling="avg"`` does in keras.applications.
    """

    def __init__(self, num_classes, hidden_units=(4096, 4096), pool_size=7, drop_rate=0.5, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = int(num_classes)
        self.hidden_units = tuple(int(u) for u in hidden_units)
        self.pool_size = int(pool_size)
        self.drop_rate = float(drop_rate)
        self.global_pool = GlobalPool("avg", name="global_pool")
        self.grid_pool = AdaptiveAvgPool2D(self.pool_size, name="grid_pool")
        self.flatten = tf_keras.layers.Flatten(name="flatten")
        self.hidden = []
        self.dropouts = []
        self.fc = None
        if self.num_classes > 0:
            self._make_mlp()

    def _make_mlp(self):
        self.hidden = [tf_keras.layers.Dense(u, activation="relu", name=f"fc{i + 1}")
                       for i, u in enumerate(self.hidden_units)]
        self.dropouts = [StatelessDropout(self.drop_rate, name=f"drop{i + 1}")
                         for i in range(len(self.hidden_units))]
        self.fc = tf_keras.layers.Dense(self.num_classes, name="fc")

    def call(self, x, pre_logits=False, training=None):
        if self.fc is None:
            return self.global_pool(x)
        x = self.flatten(self.grid_pool(x))
        for dense, dropout in zip(self.hidden, self.dropouts):
            x = dropout(dense(x), training=training)
        if pre_logits:
            return x
        return tf.cast(self.fc(x), tf.float32)

    def reset(self, num_classes, in_features):
        """New classifier for ``num_classes``; the hidden layers (if built) are kept."""
        self.num_classes = int(num_classes)
        if self.num_classes <= 0:
            self.hidden, self.dropouts, self.fc = [], [], None
            return
        if not self.hidden:
            self._make_mlp()
            self.hidden[0].build((None, in_features * self.pool_size ** 2))
            for prev, dense in zip(self.hidden, self.hidden[1:]):
                dense.build((None, prev.units))
        else:
            self.fc = tf_keras.layers.Dense(self.num_classes, name="fc")
        self.fc.build((None, self.hidden[-1].units))

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes,
                "hidden_units": self.hidden_units, "pool_size": self.pool_size,
                "drop_rate": self.drop_rate}
