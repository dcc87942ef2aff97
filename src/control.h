/*
 * The control subprotocol, psctl.control.v1: JSON text messages (jansson),
 * one object per WebSocket message.  psctl-protocol(7) is normative; this is
 * the contract the server, psctl's commands and the console share.
 *
 * Requests carry an integer "id" echoed by their reply:
 *	{"id": 1, "cmd": "status"}
 *	{"id": 2, "cmd": "subscribe", "interval": 1.0}	seconds, 0.1 .. 60
 *	{"id": 3, "cmd": "unsubscribe"}
 *	{"id": 4, "cmd": "checkpoint", "name": "before-lr-drop"}   name optional
 *	{"id": 5, "cmd": "reset", "name": "ckpt-000042.safetensors"} name optional
 *	{"id": 6, "cmd": "stop", "checkpoint": true}		checkpoint optional
 * Replies:
 *	{"id": 1, "ok": true, "result": STATUS}
 *	{"id": 4, "ok": true, "result": {"path": "/var/lib/psctl/x.safetensors",
 *	     "model_version": 812, "bytes": 4000128, "seconds": 0.021}}
 *	{"id": 5, "ok": true, "result": {"from": PATH or "initial", "model_version": 813}}
 *	{"id": 6, "ok": true, "result": {"stopping": true, "checkpoint": PATH or null}}
 *	{"id": 9, "ok": false, "error": {"code": "bad_request", "message": "..."}}
 *	   codes: bad_request, unknown_command, no_model, no_checkpoint_dir,
 *	   not_found, busy, io, forbidden, shutting_down
 * Events, after subscribe, every interval until unsubscribe or close:
 *	{"event": "snapshot", "seq": 17, "snapshot": STATUS}
 *
 * STATUS (keys always present; numbers are JSON numbers; rates are per
 * second, smoothed over about 5 s; times in seconds):
 *	{
 *	  "version": "0.1.0", "listen": "127.0.0.1:7070",
 *	  "uptime_s": 12.5, "state": "serving" | "empty" | "draining",
 *	  "mode": "async" | "sync" | "ssp", "rule": "adam",
 *	  "rule_params": {"lr": 0.001, "beta1": 0.9, ...},
 *	  "sync_workers": 4 or null, "staleness": 2 or null,
 *	  "model_version": 812, "params": 1000000, "bytes": 4000000,
 *	  "model_l2": 31.6, "last_update_l2": 0.02,
 *	  "tensors": [{"name": "dense/kernel", "shape": [784, 128],
 *	      "l2_norm": 12.1, "update_l2": 0.01, "version": 811,
 *	      "updates_total": 400, "updates_per_s": 20.5}, ...],
 *	  "workers": [{"id": 3, "name": "w3", "address": "127.0.0.1:50122",
 *	      "state": "active" | "waiting" | "silent" | "gone",
 *	      "pushes": 200, "pulls": 201, "pushes_per_s": 10.0,
 *	      "pulls_per_s": 10.0, "clock": 200, "lag": 3,
 *	      "last_seen_s": 0.2, "bytes_in": 800000, "bytes_out": 801000}, ...],
 *	  "workers_connected": 4, "workers_expected": 4 or null,
 *	  "pushes_total": 800, "pulls_total": 804, "rejected_total": 2,
 *	  "rejected": {"shape": 1, "nonfinite": 1, ...},	  by ps_errcode_name()
 *	  "pushes_per_s": 40.0, "pulls_per_s": 40.2,
 *	  "bytes_in_per_s": 1.6e8, "bytes_out_per_s": 1.6e8,
 *	  "bytes_in_total": 3.2e9, "bytes_out_total": 3.2e9,
 *	  "resets_total": 0,
 *	  "checkpoint": {"dir": "/var/lib/psctl" or null, "in_progress": false,
 *	      "count": 3, "last_path": PATH or null, "last_age_s": 4.2 or null,
 *	      "last_ok": true or null, "last_error": null or "text",
 *	      "last_seconds": 0.02 or null}
 *	}
 * "lag" is the fastest live worker's clock minus this worker's; "clock" is
 * the worker's push count.  Workers that left stay listed as "gone" for a
 * while (at most 64 of them).
 */
#ifndef PS_CONTROL_H
#define PS_CONTROL_H

#endif
