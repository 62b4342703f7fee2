// $metadata through an independent CSDL parser: OASIS's own converter
// (odata-csdl, from the OData TC's odata-csdl-schemas) reads the served CSDL
// XML strictly and converts it to CSDL JSON, which must equal the CSDL JSON
// the service serves. Prints {messages, xmlAsJson, json}; pytest
// (tests/integration/test_odata_js_client.py) judges it.
// Usage: node csdl.mjs <version root URL> <bearer token>
import csdl from "odata-csdl";

const [root, token] = process.argv.slice(2);
async function fetchMetadata(accept) {
  const r = await fetch(`${root}/$metadata`, {
    headers: { Authorization: `Bearer ${token}`, Accept: accept },
  });
  if (r.status !== 200) throw new Error(`$metadata (${accept}) answered ${r.status}`);
  return r.text();
}
const messages = [];
const xmlAsJson = csdl.xml2json(await fetchMetadata("application/xml"),
                                { strict: true, messages });
const json = JSON.parse(await fetchMetadata("application/json"));
console.log(JSON.stringify({ messages, xmlAsJson, json }));
