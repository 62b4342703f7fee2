// Audit events through the official Microsoft Graph JavaScript client
// (pinned in package.json), unmodified: the list of auditEvents filtered,
// ordered and paged with $top, walked to the end with the client's own
// PageIterator (which follows each @odata.nextLink and its $skiptoken), one
// event by id, and getAuditCategories(). See create.mjs for why the base
// URL is https:// and its host is in customHosts.
//
// Environment: GRAPH_BASE_URL, GRAPH_VERSION, GRAPH_TOKEN as for create.mjs
// (the token grants DeviceManagementApps.Read.All).
// stdout is one JSON document of what each step returned; exit 1 on any
// unexpected error (on stderr).
import { Client, PageIterator } from "@microsoft/microsoft-graph-client";

const baseUrl = process.env.GRAPH_BASE_URL;
if (!baseUrl) {
	console.error("GRAPH_BASE_URL is required");
	process.exit(1);
}
const client = Client.init({
	authProvider: (done) => done(null, process.env.GRAPH_TOKEN ?? ""),
	baseUrl,
	defaultVersion: process.env.GRAPH_VERSION || "v1.0",
	customHosts: new Set([new URL(baseUrl).hostname]),
});
const events = "/deviceManagement/auditEvents";
const out = {};

const first = await client
	.api(events)
	.filter("activityOperationType eq 'Create'")
	.orderby("activityDateTime desc")
	.top(2)
	.count(true)
	.get();
out.firstPage = first;
out.walked = [];
await new PageIterator(client, first, (event) => {
	out.walked.push(event);
	return true;
}).iterate();
out.one = await client.api(`${events}/${first.value[0].id}`).get();
out.categories = await client.api(`${events}/getAuditCategories()`).get();
process.stdout.write(JSON.stringify(out));
