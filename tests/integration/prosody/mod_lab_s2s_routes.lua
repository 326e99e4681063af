-- mod_lab_s2s_routes: static s2s routes for Prosody in the edge tests.
--
-- Prosody 0.12 finds remote servers only through DNS; the tests run
-- peers on loopback ports instead.  lab_s2s_routes = { ["domain"] =
-- { "127.0.0.1", port [, tls_port] } } makes the outgoing s2s connection
-- to those domains go to that address: with a tls_port as Prosody's
-- _xmpps-server (direct TLS, XEP-0368) target, else its _xmpps-server
-- lookup is skipped.
-- Written for the tests; it wraps net.resolvers.service.new, which
-- mod_s2s calls for every new outgoing connection.
local service = require "net.resolvers.service";
local manual = require "net.resolvers.manual";

local routes = module:get_option("lab_s2s_routes", {});
local orig_new = service._lab_orig_new or service.new;
service._lab_orig_new = orig_new;

service.new = function (hostname, srvname, proto, extra)
	local r = routes[hostname];
	if r then
		if srvname == "xmpps-server" then
			if r[3] then
				module:log("debug", "lab direct TLS route for %s: %s:%d", hostname, r[1], r[3]);
				return manual.new({ { "tcp4", r[1], r[3], extra } }, "tcp", extra);
			end
			return manual.new({}, "tcp", extra);
		end
		module:log("debug", "lab route for %s: %s:%d", hostname, r[1], r[2]);
		return manual.new({ { "tcp4", r[1], r[2], extra } }, "tcp", extra);
	end
	return orig_new(hostname, srvname, proto, extra);
end

function module.unload()
	service.new = orig_new;
end
