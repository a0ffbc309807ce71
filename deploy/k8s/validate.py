#!/usr/bin/env python3
"""Validate ParcelFlow's Kubernetes manifests (deploy/k8s/*.yaml), offline and strictly.

usage: validate.py [--dir DIR] [--kubernetes-version V ...] [--dump]

1. Every Kubernetes object against the API's own schemas, with kubernetes-validate in strict mode
   (an unknown field is an error, as `kubectl apply` with server-side strict field validation),
   for each Kubernetes version given (default: every one the pinned kubernetes-validate bundles
   from MIN_KUBERNETES on). A kind it has no schema for is an error, not a warning.
2. KEDA's ScaledObject and TriggerAuthentication against the openAPIV3Schema of KEDA's own CRDs
   (schemas/, taken verbatim from a KEDA release), made strict the same way: an object with
   `properties` and neither `additionalProperties` nor `x-kubernetes-preserve-unknown-fields`
   takes no other field. Other `x-kubernetes-*` keys are ignored, except the CRD's CEL rules
   (`x-kubernetes-validations`): each one is implemented here, and a rule this script does not
   know is an error, so a newer schema cannot weaken the check unnoticed. `metadata` is checked
   against the Kubernetes ObjectMeta schema.
3. What the manifests promise each other: every object in the namespace `parcelflow` and labelled
   part-of parcelflow; each ConfigMap, Secret and key referred to exists; each Service and the
   PodDisruptionBudget select a Deployment's pods, on a port it names; the ScaledObject scales a
   Deployment of these manifests that leaves its replicas to KEDA, with a TriggerAuthentication
   of these manifests, and counts the stage queues' ready AND unacknowledged messages (RabbitMQ
   trigger over HTTP, mode QueueLength, unacknowledged not excluded) of exactly the four stage
   queues of the namespace, no retry or dead-letter queue.

Prints one line per object and per problem; exits 0 when all is well, 1 when anything is wrong,
2 when it cannot run (a missing module, unreadable YAML). --dump prints the manifests as one JSON
array of {"file", "document"} and validates nothing (the test suite reads it).

Needs PyYAML, jsonschema and kubernetes-validate at the versions deploy/k8s/requirements.txt pins,
in .local/venv (deploy/local/lib.sh's pf_python_tools makes it; test.sh calls it).
"""

import argparse
import json
import pathlib
import re
import sys

try:
    import importlib_resources
    import jsonschema
    import kubernetes_validate
    import yaml
    from kubernetes_validate import utils as kv_utils
    from referencing import Registry, Resource
except ImportError as error:  # reported to the caller
    sys.stderr.write(f"validate.py: {error}: run deploy/local/test.sh (or source deploy/local/lib.sh and "
                     "call pf_python_tools), then use .local/venv/bin/python\n")
    sys.exit(2)

HERE = pathlib.Path(__file__).resolve().parent
NAMESPACE = "parcelflow"
PART_OF = ("app.kubernetes.io/part-of", "parcelflow")
# The ConfigMap of the programs' settings (the namespace the scaler's queue names are in).
SETTINGS = "parcelflow-settings"
MIN_KUBERNETES = "1.33"
# The KEDA kinds, each with the schema file that checks it.
KEDA_SCHEMAS = {
    ("keda.sh/v1alpha1", "ScaledObject"): "keda.sh_scaledobjects.v1alpha1.openapi.yaml",
    ("keda.sh/v1alpha1", "TriggerAuthentication"): "keda.sh_triggerauthentications.v1alpha1.openapi.yaml",
}
# ParcelFlow's topology for operators, generated from the code's (a test keeps the two equal):
# the stage queues are the ones bound to the tasks exchange.
DEFINITIONS = HERE.parent / "rabbitmq" / "definitions.json"
DEFINITIONS_NAMESPACE = "parcelflow"

class UniqueKeyLoader(yaml.SafeLoader):
    """YAML with every mapping key once: kubectl refuses a repeated key, PyYAML would keep the last."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"key {key!r} repeated", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_manifests(directory):
    """[(file name, document)] of every *.yaml in `directory`, in name order."""
    manifests = []
    for path in sorted(directory.glob("*.yaml")):
        try:
            documents = list(yaml.load_all(path.read_text(encoding="utf-8"), Loader=UniqueKeyLoader))
        except (OSError, yaml.YAMLError) as error:
            sys.stderr.write(f"validate.py: {path.name}: {error}\n")
            sys.exit(2)
        manifests.extend((path.name, document) for document in documents if document is not None)
    if not manifests:
        sys.stderr.write(f"validate.py: no manifests (*.yaml) in {directory}\n")
        sys.exit(2)
    return manifests


def name_of(document):
    if not isinstance(document, dict):
        return "?"
    return f"{document.get('kind', '?')}/{(document.get('metadata') or {}).get('name', '?')}"


def location(path):
    return "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)


# ---- 1. Kubernetes objects -------------------------------------------------------------------

def minor(version):
    """(1, 37) for "1.37", "v1.37" or "1.37.0"."""
    return tuple(int(part) for part in version.lstrip("v").split(".")[:2])


def kubernetes_versions(requested):
    """The versions to check, as "1.37": those requested, else the bundled ones from MIN_KUBERNETES."""
    if requested:
        return sorted({".".join(map(str, minor(v))) for v in requested}, key=minor)
    found = [".".join(map(str, minor(v))) for v in kv_utils.all_versions() if minor(v) >= minor(MIN_KUBERNETES)]
    return sorted(set(found), key=minor)


def check_kubernetes(document, versions):
    problems = []
    for version in versions:
        try:
            kubernetes_validate.validate(document, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            problems.append(f"Kubernetes {error.version}: {location(error.path)}: {error.message}")
        except kubernetes_validate.SchemaNotFoundError as error:
            problems.append(error.message)
        except kv_utils.VersionNotSupportedError as error:
            problems.append(error.message)
    return problems


# ---- 2. KEDA objects -------------------------------------------------------------------------

def strict(schema):
    """The schema with additionalProperties: false wherever Kubernetes would refuse unknown fields."""
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    result = {key: strict(value) for key, value in schema.items()}
    if ("properties" in schema and "additionalProperties" not in schema
            and not schema.get("x-kubernetes-preserve-unknown-fields")):
        result["additionalProperties"] = False
    return result


def cel_rules(schema, path=()):
    """[(path of property names, rule, message)] for every x-kubernetes-validations rule."""
    found = []
    for rule in schema.get("x-kubernetes-validations", []):
        found.append((path, rule["rule"], rule.get("message", rule["rule"])))
    for name, child in schema.get("properties", {}).items():
        found.extend(cel_rules(child, path + (name,)))
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict) and cel_rules(schema[key]):
            found.append((path + (key,), "<inside a list or map>", "a CEL rule this script cannot place"))
    return found


def min_not_above_max(spec):
    if "minReplicaCount" not in spec:
        return True
    return spec["minReplicaCount"] <= spec.get("maxReplicaCount", 100)


# Each CEL rule of the KEDA CRDs, written out in Python (whitespace in the rule does not matter).
KNOWN_RULES = {
    "!has(self.minReplicaCount) || self.minReplicaCount <= (has(self.maxReplicaCount) ? self.maxReplicaCount : 100)":
        min_not_above_max,
}


def object_meta_validator(version):
    """A validator of Kubernetes ObjectMeta (strict), from kubernetes-validate's own definitions."""
    bundled = [v for v in kv_utils.all_versions() if minor(v) <= minor(version)]
    if not bundled:
        raise SystemExit(f"validate.py: kubernetes-validate bundles no Kubernetes {version} or older")
    folder = importlib_resources.files("kubernetes_validate").joinpath("kubernetes-json-schema", f"v{bundled[-1]}-local-strict")
    definitions = json.loads(folder.joinpath("_definitions.json").read_text(encoding="utf-8"))
    registry = Resource.from_contents(definitions) @ Registry()
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema",
              "$ref": definitions["$id"] + "#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}
    return jsonschema.Draft202012Validator(schema, registry=registry)


def keda_validators(versions):
    validators = {}
    for key, file_name in KEDA_SCHEMAS.items():
        schema = yaml.safe_load((HERE / "schemas" / file_name).read_text(encoding="utf-8"))
        jsonschema.Draft7Validator.check_schema(schema)
        validators[key] = (jsonschema.Draft7Validator(strict(schema)), cel_rules(schema))
    return validators, object_meta_validator(versions[-1])


def check_keda(document, validator, rules, meta_validator):
    problems = [f"KEDA CRD: {location(e.path)}: {e.message}"
                for e in sorted(validator.iter_errors(document), key=lambda e: list(map(str, e.path)))]
    problems += [f"KEDA CRD: {location(['metadata'] + list(e.path))}: {e.message}"
                 for e in meta_validator.iter_errors(document.get("metadata") or {})]
    for path, rule, message in rules:
        check = KNOWN_RULES.get(" ".join(rule.split()))
        if check is None:
            problems.append(f"KEDA CRD: the rule at {location(path)} is not implemented by validate.py: {rule}")
            continue
        target = document
        for name in path:
            target = target.get(name) if isinstance(target, dict) else None
        if isinstance(target, dict) and not check(target):
            problems.append(f"KEDA CRD: {location(path)}: {message}")
    return problems


# ---- 3. What the manifests promise each other ------------------------------------------------

def pod_specs(document):
    if document.get("kind") == "Deployment":
        template = document.get("spec", {}).get("template", {})
        yield template.get("metadata", {}), template.get("spec", {})


def selects(selector, labels):
    return bool(selector) and all(labels.get(key) == value for key, value in selector.items())


def secret_keys(documents):
    keys = {}
    for _, document in documents:
        if document.get("kind") == "Secret":
            name = document["metadata"]["name"]
            keys[name] = set(document.get("data") or {}) | set(document.get("stringData") or {})
    return keys


def check_references(documents):
    problems = []
    seen = set()
    config_maps = {d["metadata"]["name"]: d.get("data") or {} for _, d in documents if d.get("kind") == "ConfigMap"}
    secrets = secret_keys(documents)
    deployments = {d["metadata"]["name"]: d for _, d in documents if d.get("kind") == "Deployment"}
    for file_name, document in documents:
        what = f"{file_name}: {name_of(document)}"
        metadata = document.get("metadata") or {}
        key = (document.get("kind"), metadata.get("name"))
        if key in seen:
            problems.append(f"{what}: defined twice")
        seen.add(key)
        if document.get("kind") == "Namespace":
            if metadata.get("name") != NAMESPACE:
                problems.append(f"{what}: the namespace must be {NAMESPACE}")
        elif metadata.get("namespace") != NAMESPACE:
            problems.append(f"{what}: metadata.namespace must be {NAMESPACE}")
        if (metadata.get("labels") or {}).get(PART_OF[0]) != PART_OF[1]:
            problems.append(f"{what}: no label {PART_OF[0]}: {PART_OF[1]}")
        for template_metadata, spec in pod_specs(document):
            labels = template_metadata.get("labels") or {}
            if labels.get(PART_OF[0]) != PART_OF[1]:
                problems.append(f"{what}: its pods have no label {PART_OF[0]}: {PART_OF[1]}")
            if not selects(document["spec"].get("selector", {}).get("matchLabels"), labels):
                problems.append(f"{what}: spec.selector does not select its own pods")
            for container in spec.get("containers", []) + spec.get("initContainers", []):
                for source in container.get("envFrom", []):
                    ref = source.get("configMapRef") or source.get("secretRef") or {}
                    known = config_maps if "configMapRef" in source else secrets
                    if ref.get("name") not in known:
                        problems.append(f"{what}: envFrom names {ref.get('name')!r}, which these manifests do not define")
                for variable in container.get("env", []):
                    ref = (variable.get("valueFrom") or {}).get("secretKeyRef")
                    if ref and ref.get("key") not in secrets.get(ref.get("name"), ()):
                        problems.append(f"{what}: {variable['name']} comes from secret {ref.get('name')!r} key "
                                        f"{ref.get('key')!r}, which these manifests do not define")
                    ref = (variable.get("valueFrom") or {}).get("configMapKeyRef")
                    if ref and ref.get("key") not in config_maps.get(ref.get("name"), {}):
                        problems.append(f"{what}: {variable['name']} comes from config map {ref.get('name')!r} key "
                                        f"{ref.get('key')!r}, which these manifests do not define")
            for volume in spec.get("volumes", []):
                # A ConfigMap or Secret volume: the object it names, and each key it mounts, must exist.
                for source, kind, name_key, known in (("configMap", "config map", "name", config_maps),
                                                      ("secret", "secret", "secretName", secrets)):
                    mounted = volume.get(source)
                    if not mounted:
                        continue
                    name = mounted.get(name_key)
                    available = known.get(name)
                    if available is None:
                        problems.append(f"{what}: volume {volume['name']} mounts {kind} {name!r}, "
                                        "which these manifests do not define")
                        continue
                    for item in mounted.get("items", []):
                        if item.get("key") not in available:
                            problems.append(f"{what}: volume {volume['name']} mounts key {item.get('key')!r}, which "
                                            f"{kind} {name!r} does not have")
        if document.get("kind") in ("Service", "PodDisruptionBudget"):
            selector = (document["spec"].get("selector") or {})
            selector = selector.get("matchLabels", selector) if document["kind"] == "PodDisruptionBudget" else selector
            targets = [d for d in deployments.values()
                       if selects(selector, d["spec"]["template"]["metadata"].get("labels") or {})]
            if not targets:
                problems.append(f"{what}: selects no Deployment's pods")
            if document["kind"] == "Service":
                names = {port.get("name") for d in targets for c in d["spec"]["template"]["spec"]["containers"]
                         for port in c.get("ports", [])}
                for port in document["spec"].get("ports", []):
                    target = port.get("targetPort")
                    if isinstance(target, str) and target not in names:
                        problems.append(f"{what}: targetPort {target!r} is no port of the pods it selects")
    return problems


def queue_names(namespace):
    """The stage queues of `namespace`, and every other queue or exchange name under it."""
    definitions = json.loads(DEFINITIONS.read_text(encoding="utf-8"))
    tasks = f"{DEFINITIONS_NAMESPACE}.tasks"
    stages = [b["destination"] for b in definitions["bindings"] if b["source"] == tasks]
    names = [q["name"] for q in definitions["queues"]] + [e["name"] for e in definitions["exchanges"]]
    others = [name for name in names if name not in stages]
    # Another namespace's queues that contain ours: a pattern must be anchored to miss them.
    others += [f"test.{name}" for name in stages] + [f"{name}.test" for name in stages]

    def rename(name):
        return name.replace(DEFINITIONS_NAMESPACE, namespace, 1)
    if len(stages) != 4:
        raise SystemExit(f"validate.py: {DEFINITIONS} binds {len(stages)} queues to {tasks}, not the four stages")
    return [rename(n) for n in stages], [rename(n) for n in others]


def check_scaling(documents):
    problems = []
    by_kind = {}
    for file_name, document in documents:
        by_kind.setdefault(document.get("kind"), {})[document["metadata"]["name"]] = (file_name, document)
    settings = by_kind.get("ConfigMap", {}).get(SETTINGS, (None, {}))[1].get("data") or {}
    namespace = settings.get("PARCELFLOW_NAMESPACE", "parcelflow")
    stages, others = queue_names(namespace)
    secrets = secret_keys(documents)
    scaled = by_kind.get("ScaledObject", {})
    if not scaled:
        problems.append("no ScaledObject: nothing scales the workers")
    for name, (file_name, document) in scaled.items():
        what = f"{file_name}: ScaledObject/{name}"
        spec = document.get("spec", {})
        target = spec.get("scaleTargetRef", {})
        if target.get("apiVersion", "apps/v1") != "apps/v1" or target.get("kind", "Deployment") != "Deployment":
            problems.append(f"{what}: scaleTargetRef must be a Deployment (apps/v1)")
        deployment = by_kind.get("Deployment", {}).get(target.get("name"))
        if deployment is None:
            problems.append(f"{what}: scaleTargetRef names {target.get('name')!r}, no Deployment of these manifests")
        elif "replicas" in deployment[1].get("spec", {}):
            problems.append(f"{what}: Deployment/{target.get('name')} sets spec.replicas, which KEDA owns "
                            "(every kubectl apply would reset it)")
        counted = set()
        for index, trigger in enumerate(spec.get("triggers", [])):
            where = f"{what}: triggers[{index}]"
            metadata = trigger.get("metadata") or {}
            if trigger.get("type") != "rabbitmq":
                problems.append(f"{where}: type {trigger.get('type')!r}: only the rabbitmq trigger counts the queues here")
                continue
            if metadata.get("protocol") != "http":
                problems.append(f"{where}: protocol must be http: over amqp KEDA reads queue.declare's count, ready "
                                "messages only, and scales busy workers down")
            if metadata.get("mode") != "QueueLength":
                problems.append(f"{where}: mode must be QueueLength (the messages in the queues)")
            if str(metadata.get("excludeUnacknowledged", "false")).lower() != "false":
                problems.append(f"{where}: excludeUnacknowledged must stay false: unacknowledged messages are work in flight")
            if "host" in metadata or "hostFromEnv" in metadata:
                problems.append(f"{where}: the host (with its password) belongs in the TriggerAuthentication's secret")
            try:
                if float(metadata.get("value", "")) <= 0:
                    raise ValueError
            except ValueError:
                problems.append(f"{where}: value must be a number of messages per worker above 0")
            pattern = metadata.get("queueName", "")
            if str(metadata.get("useRegex", "false")).lower() == "true":
                if metadata.get("operation", "sum") != "sum":
                    problems.append(f"{where}: operation must be sum: the workers work every stage queue")
                try:
                    # The management API matches anywhere in the name, as re.search does.
                    matched = {q for q in stages + others if re.search(pattern, q)}
                except re.error as error:
                    problems.append(f"{where}: queueName is not a regular expression: {error}")
                    matched = set()
                if matched - set(stages):
                    problems.append(f"{where}: queueName also matches {', '.join(sorted(matched - set(stages)))}")
                counted |= matched & set(stages)
            else:
                counted.add(pattern)
            auth = trigger.get("authenticationRef") or {}
            found = by_kind.get(auth.get("kind", "TriggerAuthentication"), {}).get(auth.get("name"))
            if found is None:
                problems.append(f"{where}: authenticationRef names {auth.get('name')!r}, no TriggerAuthentication "
                                "of these manifests")
            else:
                references = found[1].get("spec", {}).get("secretTargetRef", [])
                if "host" not in {r.get("parameter") for r in references}:
                    problems.append(f"{where}: TriggerAuthentication/{auth.get('name')} gives no host")
                for reference in references:
                    if reference.get("key") not in secrets.get(reference.get("name"), ()):
                        problems.append(f"{where}: TriggerAuthentication/{auth.get('name')} reads secret "
                                        f"{reference.get('name')!r} key {reference.get('key')!r}, which these "
                                        "manifests do not define")
        if set(stages) - counted:
            problems.append(f"{what}: the triggers do not count {', '.join(sorted(set(stages) - counted))}")
    return problems


def main():
    parser = argparse.ArgumentParser(description="Validate deploy/k8s/*.yaml offline.")
    parser.add_argument("--dir", type=pathlib.Path, default=HERE, help="folder of manifests (default: this one)")
    parser.add_argument("--kubernetes-version", action="append", default=[], metavar="V",
                        help=f"a Kubernetes version to validate against (repeatable; default: {MIN_KUBERNETES} "
                             "and every later one kubernetes-validate bundles)")
    parser.add_argument("--dump", action="store_true", help="print the manifests as JSON and validate nothing")
    arguments = parser.parse_args()

    manifests = load_manifests(arguments.dir)
    if arguments.dump:
        json.dump([{"file": f, "document": d} for f, d in manifests], sys.stdout, indent=1)
        sys.stdout.write("\n")
        return 0

    versions = kubernetes_versions(arguments.kubernetes_version)
    validators, meta_validator = keda_validators(versions)
    failed = 0
    for file_name, document in manifests:
        if not isinstance(document, dict) or not isinstance(document.get("metadata"), dict):
            print(f"{file_name}: {name_of(document)}: invalid: not an object with apiVersion, kind and metadata")
            failed += 1
            continue
        key = (document.get("apiVersion"), document.get("kind"))
        if key in validators:
            problems = check_keda(document, *validators[key], meta_validator)
        elif str(key[0]).split("/")[0].endswith("keda.sh"):
            problems = [f"no KEDA schema for {key[0]} {key[1]} in schemas/"]
        else:
            problems = check_kubernetes(document, versions)
        for problem in problems:
            print(f"{file_name}: {name_of(document)}: invalid: {problem}")
        if problems:
            failed += 1
        else:
            print(f"{file_name}: {name_of(document)}: ok")
    if failed:
        print(f"{failed} of {len(manifests)} objects invalid; the cross-checks need valid objects")
        return 1
    problems = check_references(manifests) + check_scaling(manifests)
    for problem in problems:
        print(f"problem: {problem}")
    print(f"{len(manifests)} objects valid (Kubernetes {', '.join(versions)}; KEDA CRDs from schemas/), "
          f"{len(problems)} cross-check problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
