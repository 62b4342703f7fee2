// The whole remoteAssistancePartners cycle through the official Microsoft
// Graph JavaScript client (pinned in package.json), unmodified, against a test
// server: create -> get -> list with $filter, $select, $orderby and $top,
// walked to the end with the client's own PageIterator -> update ->
// beginOnboarding -> disconnect -> delete -> get, which must fail with a
// GraphError. See create.mjs for why the base URL is https:// and its host
// is in customHosts.
//
// Environment: GRAPH_BASE_URL, GRAPH_VERSION, GRAPH_TOKEN as for create.mjs;
// GRAPH_PREFIX, a displayName prefix of this run's own partners.
// stdout is one JSON document of what each step returned; exit 1 on any
// unexpected error (on stderr).
import { Client, GraphError, PageIterator } from "@microsoft/microsoft-graph-client";

const baseUrl = process.env.GRAPH_BASE_URL;
const prefix = process.env.GRAPH_PREFIX;
if (!baseUrl || !prefix) {
	console.error("GRAPH_BASE_URL and GRAPH_PREFIX are required");
	process.exit(1);
}
const client = Client.init({
	authProvider: (done) => done(null, process.env.GRAPH_TOKEN ?? ""),
	baseUrl,
	defaultVersion: process.env.GRAPH_VERSION || "v1.0",
	customHosts: new Set([new URL(baseUrl).hostname]),
});
const collection = "/deviceManagement/remoteAssistancePartners";
const entity = (id) => `${collection}/${id}`;
const out = {};

const created = [];
for (const n of [1, 2, 3, 4, 5]) {
	created.push(
		await client.api(collection).post({
			"@odata.type": "#microsoft.graph.remoteAssistancePartner",
			displayName: `${prefix} ${n}`,
			onboardingUrl: `https://partner${n}.example/`,
			lastConnectionDateTime: `2024-01-0${n}T00:00:00Z`,
		}),
	);
}
out.created = created;
const id = created[0].id;
out.got = await client.api(entity(id)).get();

const first = await client
	.api(collection)
	.filter(`startswith(displayName,'${prefix}')`)
	.select(["id", "displayName"])
	.orderby("displayName desc")
	.top(2)
	.get();
out.firstPage = first;
out.walked = [];
await new PageIterator(client, first, (partner) => {
	out.walked.push(partner);
	return true;
}).iterate();

out.updated = await client.api(entity(id)).update({ displayName: `${prefix} renamed` });
await client.api(`${entity(id)}/beginOnboarding`).post();
out.afterBegin = await client.api(entity(id)).get();
await client.api(`${entity(id)}/disconnect`).post();
out.afterDisconnect = await client.api(entity(id)).get();
await client.api(entity(id)).delete();
try {
	await client.api(entity(id)).get();
	out.afterDelete = "found";
} catch (e) {
	if (!(e instanceof GraphError)) {
		throw e;
	}
	out.afterDelete = { graphError: { statusCode: e.statusCode, code: e.code, message: e.message } };
}
process.stdout.write(JSON.stringify(out));
