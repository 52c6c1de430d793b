// nocbot webhook media type for Zabbix (Administration → Media types → Create, type Webhook).
//
// Parameters (name = value), all sent to nocbot as strings:
//   url                 = https://nocbot.example.org:9095/hooks/zabbix
//   token               = the token of nocbot's [alerts] token_env / token_file
//   http_proxy          = (optional)
//   event_id            = {EVENT.ID}
//   event_name          = {EVENT.NAME}
//   event_value         = {EVENT.VALUE}            1 problem, 0 recovery
//   event_update_status = {EVENT.UPDATE.STATUS}    1 for acknowledgements and comments (ignored)
//   event_nseverity     = {EVENT.NSEVERITY}        0 not classified … 5 disaster
//   event_severity      = {EVENT.SEVERITY}
//   event_date          = {EVENT.DATE}
//   event_time          = {EVENT.TIME}
//   event_recovery_id   = {EVENT.RECOVERY.ID}
//   event_tags_json     = {EVENT.TAGSJSON}         tags become labels (status_component, service, …)
//   host_name           = {HOST.NAME}
//   trigger_id          = {TRIGGER.ID}
//   event_url           = {$ZABBIX.URL}/tr_events.php?triggerid={TRIGGER.ID}&eventid={EVENT.ID}
//
// Use it in an action with recovery operations, so the recovery (which carries the problem's
// {EVENT.ID}) reaches nocbot too. nocbot answers 200 when it stored the event; anything else is
// thrown, so Zabbix shows the error and retries as the media type says.

var params = JSON.parse(value);

if (typeof params.url !== 'string' || params.url.indexOf('http') !== 0) {
    throw 'nocbot: parameter "url" must be the https://… address of /hooks/zabbix';
}
if (typeof params.token !== 'string' || params.token === '') {
    throw 'nocbot: parameter "token" is empty';
}

var body = {};
Object.keys(params).forEach(function (k) {
    if (k !== 'url' && k !== 'token' && k !== 'http_proxy') {
        body[k] = String(params[k]);
    }
});

var req = new HttpRequest();
if (params.http_proxy) {
    req.setProxy(params.http_proxy);
}
req.addHeader('Content-Type: application/json');
req.addHeader('Authorization: Bearer ' + params.token);

var answer = req.post(params.url, JSON.stringify(body));
var status = req.getStatus();
Zabbix.log(4, '[nocbot webhook] HTTP ' + status + ': ' + answer);
if (status !== 200) {
    throw 'nocbot answered HTTP ' + status + ': ' + answer;
}
return 'OK';
