// JSON batching through the official Microsoft Graph JavaScript client
// (pinned in package.json), unmodified: BatchRequestContent builds a serial
// dependsOn chain (the client accepts parallel, serial or same-dependency
// batches only) of two creates, a get, a create that fails and a get after
// it, client.api("/$batch").post sends it, and BatchResponseContent reads the
// answers back. See create.mjs for why the base URL is https:// and its
// host is in customHosts.
//
// Environment: GRAPH_BASE_URL, GRAPH_VERSION, GRAPH_TOKEN as for create.mjs;
// GRAPH_PREFIX, a displayName prefix of this run's own partners.
// stdout is one JSON document: per step id its status, Content-Type and
// body; exit 1 on any unexpected error (on stderr).
import { BatchRequestContent, BatchResponseContent, Client } from "@microsoft/microsoft-graph-client";

const baseUrl = process.env.GRAPH_BASE_URL;
const prefix = process.env.GRAPH_PREFIX;
if (!baseUrl || !prefix) {
	console.error("GRAPH_BASE_URL and GRAPH_PREFIX are required");
	process.exit(1);
}
const version = process.env.GRAPH_VERSION || "v1.0";
const client = Client.init({
	authProvider: (done) => done(null, process.env.GRAPH_TOKEN ?? ""),
	baseUrl,
	defaultVersion: version,
	customHosts: new Set([new URL(baseUrl).hostname]),
});
const collection = `${baseUrl}/${version}/deviceManagement/remoteAssistancePartners`;
const json = { "Content-Type": "application/json" };
const create = (body) => new Request(collection, { method: "POST", headers: json, body: JSON.stringify(body) });

const steps = [
	{ id: "1", request: create({ displayName: `${prefix} 1`, onboardingUrl: "https://one.example/" }) },
	{ id: "2", request: create({ displayName: `${prefix} 2` }) },
	{ id: "3", request: new Request(`${collection}?$filter=startswith(displayName,'${prefix}')&$orderby=displayName`) },
	{ id: "4", request: create({ displayName: `${prefix} 4`, onboardingStatus: "nope" }) },
	{ id: "5", request: new Request(`${collection}/$count`) },
];
const batch = new BatchRequestContent(steps);
for (let i = 1; i < steps.length; i++) {
	batch.addDependency(steps[i].id, steps[i - 1].id);
}
const sent = await batch.getContent();
const answer = new BatchResponseContent(await client.api("/$batch").post(sent));
const out = { sent, steps: {} };
for (const { id } of steps) {
	const response = answer.getResponseById(id);
	const type = response.headers.get("Content-Type");
	out.steps[id] = {
		status: response.status,
		contentType: type,
		body: type && type.startsWith("application/json") ? await response.json() : await response.text(),
	};
}
process.stdout.write(JSON.stringify(out));
