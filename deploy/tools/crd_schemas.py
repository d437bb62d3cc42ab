"""JSON schemas for the custom resources the manifests use, which kubernetes-validate does not
know (it carries only the core API). They are written here from the CRDs of KEDA 2.x
(keda.sh/v1alpha1 ScaledObject), the Prometheus Operator (monitoring.coreos.com/v1
ServiceMonitor, PodMonitor, PrometheusRule) and Strimzi 0.4x (kafka.strimzi.io/v1beta2
KafkaTopic), restricted to the fields Tributary uses: every object level is closed
(additionalProperties: false), so a misspelt or misplaced field fails instead of being ignored
by the operator. A field the upstream CRD has and we do not use yet must be added here when a
manifest starts using it."""

_STR = {"type": "string"}
_INT = {"type": "integer"}
_STRMAP = {"type": "object", "additionalProperties": _STR}


def _closed(properties, required=()):
    return {
        "type": "object",
        "properties": properties,
        "required": list(required),
        "additionalProperties": False,
    }


_METADATA = _closed(
    {"name": _STR, "namespace": _STR, "labels": _STRMAP, "annotations": _STRMAP},
    ["name"],
)
_LABEL_SELECTOR = _closed(
    {
        "matchLabels": _STRMAP,
        "matchExpressions": {
            "type": "array",
            "items": _closed(
                {
                    "key": _STR,
                    "operator": {"enum": ["In", "NotIn", "Exists", "DoesNotExist"]},
                    "values": {"type": "array", "items": _STR},
                },
                ["key", "operator"],
            ),
        },
    }
)
_DURATION = {"type": "string", "pattern": r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"}
_ENDPOINT = {
    "port": _STR,
    "path": _STR,
    "interval": _DURATION,
    "scrapeTimeout": _DURATION,
    "scheme": {"enum": ["http", "https"]},
}

# Every metadata key of KEDA's kafka scaler (values are strings in the CRD).
_KAFKA_METADATA_KEYS = [
    "bootstrapServers", "bootstrapServersFromEnv", "consumerGroup", "consumerGroupFromEnv",
    "topic", "topicFromEnv", "lagThreshold", "activationLagThreshold", "offsetResetPolicy",
    "allowIdleConsumers", "excludePersistentLag", "scaleToZeroOnInvalidOffset",
    "limitToPartitionsWithLag", "ensureEvenDistributionOfPartitions", "partitionLimitation",
    "version", "sasl", "tls",
]

SCHEMAS = {
    ("keda.sh/v1alpha1", "ScaledObject"): _closed(
        {
            "apiVersion": _STR,
            "kind": _STR,
            "metadata": _METADATA,
            "spec": _closed(
                {
                    "scaleTargetRef": _closed(
                        {"name": _STR, "kind": _STR, "apiVersion": _STR, "envSourceContainerName": _STR},
                        ["name"],
                    ),
                    "pollingInterval": _INT,
                    "cooldownPeriod": _INT,
                    "initialCooldownPeriod": _INT,
                    "idleReplicaCount": _INT,
                    "minReplicaCount": {"type": "integer", "minimum": 0},
                    "maxReplicaCount": {"type": "integer", "minimum": 1},
                    "advanced": _closed(
                        {
                            "restoreToOriginalReplicaCount": {"type": "boolean"},
                            "horizontalPodAutoscalerConfig": _closed(
                                {
                                    "name": _STR,
                                    # autoscaling/v2 HorizontalPodAutoscalerBehavior, checked
                                    # loosely: KEDA passes it to the HPA as is.
                                    "behavior": {"type": "object"},
                                }
                            ),
                        }
                    ),
                    "triggers": {
                        "type": "array",
                        "minItems": 1,
                        "items": _closed(
                            {
                                "type": {"const": "kafka"},
                                "name": _STR,
                                "metricType": {"enum": ["AverageValue", "Value", "Utilization"]},
                                "authenticationRef": _closed({"name": _STR, "kind": _STR}, ["name"]),
                                "metadata": {
                                    "type": "object",
                                    "propertyNames": {"enum": _KAFKA_METADATA_KEYS},
                                    "additionalProperties": _STR,
                                    "required": ["consumerGroup", "lagThreshold"],
                                },
                            },
                            ["type", "metadata"],
                        ),
                    },
                },
                ["scaleTargetRef", "triggers"],
            ),
        },
        ["apiVersion", "kind", "metadata", "spec"],
    ),
    ("monitoring.coreos.com/v1", "ServiceMonitor"): _closed(
        {
            "apiVersion": _STR,
            "kind": _STR,
            "metadata": _METADATA,
            "spec": _closed(
                {
                    "selector": _LABEL_SELECTOR,
                    "namespaceSelector": {"type": "object"},
                    "endpoints": {"type": "array", "minItems": 1, "items": _closed(_ENDPOINT, ["port"])},
                },
                ["selector", "endpoints"],
            ),
        },
        ["apiVersion", "kind", "metadata", "spec"],
    ),
    ("monitoring.coreos.com/v1", "PodMonitor"): _closed(
        {
            "apiVersion": _STR,
            "kind": _STR,
            "metadata": _METADATA,
            "spec": _closed(
                {
                    "selector": _LABEL_SELECTOR,
                    "namespaceSelector": {"type": "object"},
                    "podMetricsEndpoints": {"type": "array", "minItems": 1, "items": _closed(_ENDPOINT, ["port"])},
                },
                ["selector", "podMetricsEndpoints"],
            ),
        },
        ["apiVersion", "kind", "metadata", "spec"],
    ),
    ("monitoring.coreos.com/v1", "PrometheusRule"): _closed(
        {
            "apiVersion": _STR,
            "kind": _STR,
            "metadata": _METADATA,
            "spec": _closed(
                {
                    "groups": {
                        "type": "array",
                        "items": _closed(
                            {
                                "name": _STR,
                                "interval": _DURATION,
                                "rules": {
                                    "type": "array",
                                    "items": _closed(
                                        {
                                            "record": _STR,
                                            "alert": _STR,
                                            "expr": _STR,
                                            "for": _DURATION,
                                            "labels": _STRMAP,
                                            "annotations": _STRMAP,
                                        },
                                        ["expr"],
                                    ),
                                },
                            },
                            ["name", "rules"],
                        ),
                    }
                },
                ["groups"],
            ),
        },
        ["apiVersion", "kind", "metadata", "spec"],
    ),
    ("kafka.strimzi.io/v1beta2", "KafkaTopic"): _closed(
        {
            "apiVersion": _STR,
            "kind": _STR,
            "metadata": _METADATA,
            "spec": _closed(
                {
                    "topicName": _STR,
                    "partitions": {"type": "integer", "minimum": 1},
                    "replicas": {"type": "integer", "minimum": 1, "maximum": 32767},
                    # Strimzi accepts any topic-level config; values as strings keep them exact.
                    "config": _STRMAP,
                },
                ["partitions", "replicas"],
            ),
        },
        ["apiVersion", "kind", "metadata", "spec"],
    ),
}
