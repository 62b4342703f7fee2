// Create a remoteAssistancePartner through the official Microsoft Graph
// JavaScript client (@microsoft/microsoft-graph-client, pinned in
// package.json), pointed at a test server instead of graph.microsoft.com.
//
// Environment:
//   GRAPH_BASE_URL  service root without version, e.g. https://127.0.0.1:8443
//   GRAPH_VERSION   defaultVersion: v1.0 (default) or beta
//   GRAPH_TOKEN     the access token the auth provider hands the client
//   GRAPH_BODY      the JSON request body
//   GRAPH_RESPONSE  "raw": ask for the raw fetch Response (.responseType(RAW))
//                   so its status and headers can be reported too
//
// stdout is one JSON document:
//   exit 0: the object the client returned (or, raw, {status, headers, body})
//   exit 3: {"graphError": {statusCode, code, message, requestId, headers}}
//   exit 1: anything else (the error on stderr)
//
// Authorization (and the client-request-id/SdkVersion telemetry headers) are
// only attached by the client's AuthenticationHandler/TelemetryHandler when
// the request URL is https:// and its host name, without the port, is a
// Graph host or in `customHosts` (GraphRequestUtil.isValidEndpoint in 3.0.7).
// So customHosts is a Set holding the bare host name, e.g. "127.0.0.1" --
// not "127.0.0.1:8443" (never matches, despite the client's own error text
// suggesting "example:3000") and not a URL (rejected: contains "/").
import { Client, GraphError, ResponseType } from "@microsoft/microsoft-graph-client";

const baseUrl = process.env.GRAPH_BASE_URL;
const defaultVersion = process.env.GRAPH_VERSION || "v1.0";
const token = process.env.GRAPH_TOKEN ?? "";
const raw = process.env.GRAPH_RESPONSE === "raw";

if (!baseUrl || process.env.GRAPH_BODY === undefined) {
	console.error("GRAPH_BASE_URL and GRAPH_BODY are required");
	process.exit(1);
}
const body = JSON.parse(process.env.GRAPH_BODY);

const client = Client.init({
	authProvider: (done) => done(null, token),
	baseUrl,
	defaultVersion,
	customHosts: new Set([new URL(baseUrl).hostname]),
});

const headersObject = (headers) => (headers ? Object.fromEntries(headers.entries()) : null);

try {
	let request = client.api("/deviceManagement/remoteAssistancePartners");
	if (raw) {
		request = request.responseType(ResponseType.RAW);
	}
	const result = await request.post(body);
	if (raw) {
		const text = await result.text();
		let parsed = text;
		try {
			parsed = JSON.parse(text);
		} catch {
			// not JSON: report the text as is
		}
		process.stdout.write(JSON.stringify({ status: result.status, headers: headersObject(result.headers), body: parsed }));
	} else {
		process.stdout.write(JSON.stringify(result));
	}
	process.exit(0);
} catch (e) {
	if (e instanceof GraphError) {
		process.stdout.write(
			JSON.stringify({
				graphError: {
					statusCode: e.statusCode,
					code: e.code,
					message: e.message,
					requestId: e.requestId,
					headers: headersObject(e.headers),
				},
			}),
		);
		process.exit(3);
	}
	console.error(e && e.stack ? e.stack : e);
	process.exit(1);
}
