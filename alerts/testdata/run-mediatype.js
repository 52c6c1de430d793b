// Runs the Zabbix media type script the way the Zabbix server does: its text is the body of a
// function of `value` (the parameters as a JSON string), with HttpRequest and Zabbix provided.
// HttpRequest here records the request and answers with the status given on the command line.
// Prints {"result", "error", "url", "headers", "body"} as JSON.
const fs = require('fs');
const [script, paramsFile, status] = process.argv.slice(2);
const out = { headers: [] };
function HttpRequest() {}
HttpRequest.prototype.addHeader = function (h) { out.headers.push(h); };
HttpRequest.prototype.setProxy = function (p) { out.proxy = p; };
HttpRequest.prototype.post = function (url, body) { out.url = url; out.body = body; return 'ok'; };
HttpRequest.prototype.getStatus = function () { return Number(status); };
const Zabbix = { log: function () {} };
try {
    out.result = new Function('value', 'HttpRequest', 'Zabbix', fs.readFileSync(script, 'utf8'))(
        fs.readFileSync(paramsFile, 'utf8'), HttpRequest, Zabbix);
} catch (e) {
    out.error = String(e);
}
process.stdout.write(JSON.stringify(out));
