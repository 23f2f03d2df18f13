"""Independent checks of mida's exports: roc-validator for the RO-Crate,
the OpenLineage JSON Schema (with the facets mida writes) for the events,
the W3C PROV-JSON schema and the `prov` package for PROV.

The standards' texts are pinned in pinned/ (see pinned/README.md); the
validator's HTTP cache is filled from them so that it runs offline."""

import io
import json
import pathlib
import subprocess
import sys

PINNED = pathlib.Path(__file__).resolve().parent / "pinned"
CONTEXTS = {
    "https://w3id.org/ro/crate/1.1/context": "ro-crate-1.1-context.jsonld",
    "https://w3id.org/ro/terms/workflow-run/context":
        "workflow-run-context.jsonld",
}
OL_FACETS = {"parent": "ParentRunFacet", "errorMessage": "ErrorMessageRunFacet",
             "processing_engine": "ProcessingEngineRunFacet",
             "executionParameters": "ExecutionParametersRunFacet"}
# mida's own facets that have a schema, in docs/openlineage/
MIDA_FACETS = {"mida_metrics": "MidaMetricsRunFacet", "mida": "MidaRunFacet"}
# ... and the dataset facets of each input and output
MIDA_DATASET_FACETS = {"mida": "MidaDatasetFacet"}
MIDA_FACET_DIR = PINNED.parents[2] / "docs" / "openlineage"


def seed_validator_cache(path):
    """Fills a requests-cache database at path with the pinned JSON-LD
    contexts, as roc-validator's --cache-path expects."""
    import requests
    import urllib3
    from requests.adapters import HTTPAdapter
    from requests_cache import CachedSession

    class Pinned(HTTPAdapter):
        def send(self, request, **kw):
            data = (PINNED / CONTEXTS[request.url]).read_bytes()
            raw = urllib3.HTTPResponse(
                body=io.BytesIO(data), status=200, preload_content=False,
                headers={"Content-Type": "application/ld+json"},
                request_url=request.url)
            return self.build_response(request, raw)

    s = CachedSession(cache_name=str(path), backend="sqlite", expire_after=-1,
                      allowable_methods=("GET",),
                      allowable_codes=(200, 302, 404))
    s.mount("https://w3id.org/", Pinned())
    for url in CONTEXTS:
        assert s.get(url).status_code == 200


def validate_crate(crate, cache):
    """Runs roc-validator on a crate directory or zip at the REQUIRED level
    of the Provenance Run Crate 0.5 profile; returns (ok, its report).
    (Text output: its JSON output fails on a zipped crate, in 0.13.0.)"""
    exe = pathlib.Path(sys.executable).parent / "rocrate-validator"
    r = subprocess.run(
        [str(exe), "validate", "-p", "provenance-run-crate-0.5", "-l",
         "required", "--offline", "--cache-path", str(cache), "--no-paging",
         "-w", "200", str(crate)],
        capture_output=True, timeout=300)
    out = r.stdout.decode(errors="replace")
    return r.returncode == 0 and "is a valid provenance-run-crate-0.5" in out, \
        out[-4000:]


def openlineage_validator():
    import jsonschema
    from referencing import Registry, Resource
    reg = Registry()
    for f in (PINNED / "openlineage").glob("*.json"):
        d = json.loads(f.read_text())
        reg = reg.with_resource(d["$id"], Resource.from_contents(d))
    main = json.loads((PINNED / "openlineage" / "OpenLineage.json").read_text())
    schemas = [(k, PINNED / "openlineage" / (f + ".json"))
               for k, f in OL_FACETS.items()]
    schemas += [(k, MIDA_FACET_DIR / (f + ".json"))
                for k, f in MIDA_FACETS.items()]
    def checker(path):
        return jsonschema.Draft202012Validator(
            json.loads(path.read_text()), registry=reg,
            format_checker=jsonschema.FormatChecker())
    facets = {k: checker(path) for k, path in schemas}
    dataset_facets = {k: checker(MIDA_FACET_DIR / (f + ".json"))
                      for k, f in MIDA_DATASET_FACETS.items()}
    event = jsonschema.Draft202012Validator(
        main, registry=reg, format_checker=jsonschema.FormatChecker())

    def validate(e):
        event.validate(e)
        for k, v in facets.items():
            if k in e["run"].get("facets", {}):
                v.validate({k: e["run"]["facets"][k]})
                # a facet's _schemaURL names the schema it was checked by
                assert e["run"]["facets"][k]["_schemaURL"].startswith(
                    v.schema["$id"] + "#/$defs/"), (k, v.schema["$id"])
        for d in e.get("inputs", []) + e.get("outputs", []):
            for k, v in dataset_facets.items():
                if k in d.get("facets", {}):
                    v.validate({k: d["facets"][k]})
                    assert d["facets"][k]["_schemaURL"].startswith(
                        v.schema["$id"] + "#/$defs/"), (k, v.schema["$id"])
    return validate


def validate_prov_schema(doc):
    import jsonschema
    schema = json.loads((PINNED / "prov-json-schema.json").read_text())
    jsonschema.Draft4Validator(schema).validate(doc)


def prov_round_trip(path):
    """Reads PROV-JSON with `prov`, writes PROV-N and PROV-O (Turtle), reads
    the RDF back; returns the record counts of the JSON and of the RDF."""
    import prov
    from prov import model
    doc = prov.read(str(path), format="json")
    provn = doc.get_provn()
    ttl = doc.serialize(format="rdf", rdf_format="turtle")
    back = model.ProvDocument.deserialize(content=ttl, format="rdf",
                                          rdf_format="turtle")

    def counts(d):
        out = {}
        for r in d.get_records():
            out[type(r).__name__] = out.get(type(r).__name__, 0) + 1
        return out
    return counts(doc), counts(back), provn
