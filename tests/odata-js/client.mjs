// A generic OData v4 client, @odata/client, unmodified, against one version
// root of mod_remoteassist: it reads $metadata, finds the entity set from it
// (the singleton's containment navigation property of the partner type),
// then creates, lists with $filter/$orderby/$top, follows @odata.nextLink,
// updates and deletes. Prints one JSON object of what it saw; pytest
// (tests/integration/test_odata_js_client.py) judges it.
// Usage: node client.mjs <version root URL> <bearer token> <display name prefix>
import { OData } from "@odata/client";

const [root, token, prefix] = process.argv.slice(2);
const client = OData.New4({
  metadataUri: `${root}/$metadata`,
  commonHeaders: { Authorization: `Bearer ${token}` },
});
const seen = {};

// The client sends Accept: application/json, so $metadata comes as CSDL JSON.
const metadata = await client.requestUri(`${root}/$metadata`);
const [namespace, alias] = Object.entries(metadata)
  .filter(([, v]) => v && v.$Alias)
  .map(([k, v]) => [k, v.$Alias])[0];
const schema = metadata[namespace];
const container = schema[metadata.$EntityContainer.split(".").pop()];
let entitySet;
for (const [name, member] of Object.entries(container)) {
  if (name.startsWith("$") || !member.$Type) continue;
  const type = schema[member.$Type.replace(`${alias}.`, "").replace(`${namespace}.`, "")];
  for (const [nav, p] of Object.entries(type)) {
    if (p.$Kind === "NavigationProperty" && p.$ContainsTarget && p.$Collection
        && p.$Type === `${alias}.remoteAssistancePartner`) {
      entitySet = `${name}/${nav}`;
    }
  }
}
seen.entitySet = entitySet;
const partnerType = schema.remoteAssistancePartner;
seen.properties = Object.keys(partnerType).filter((k) => !k.startsWith("$"));

const partners = client.getEntitySet(entitySet);
const created = [];
for (const [name, status] of [["b", "onboarded"], ["a", "notOnboarded"], ["c", "onboarding"]]) {
  created.push(await partners.create({ displayName: `${prefix}${name}`, onboardingStatus: status }));
}
seen.created = created.map((p) => p.displayName);

// list: $filter, $orderby, $top (one page of two), then the nextLink
const params = client.newParam()
  .filter(`startswith(displayName,'${prefix}')`)
  .orderby("displayName", "asc")
  .top(2);
const first = await client.newRequest({ collection: entitySet, method: "GET", params });
seen.firstPage = first.value.map((p) => p.displayName);
seen.nextLink = first["@odata.nextLink"] || null;
const second = seen.nextLink ? await client.requestUri(seen.nextLink) : { value: [] };
seen.secondPage = second.value.map((p) => p.displayName);
seen.byStatus = (await partners.query(client.newParam()
  .filter(client.newFilter().field("displayName").ne("x"))
  .orderby("onboardingStatus", "desc"))).map((p) => p.onboardingStatus);

// update, then read it back
await partners.update(created[0].id, { displayName: `${prefix}b-renamed` });
seen.updated = (await partners.retrieve(created[0].id)).displayName;

// delete, then a read fails with the service's error
await partners.delete(created[1].id);
try {
  await partners.retrieve(created[1].id);
  seen.afterDelete = "still there";
} catch (e) {
  seen.afterDelete = e.message;
}
seen.count = await partners.count();
console.log(JSON.stringify(seen));
