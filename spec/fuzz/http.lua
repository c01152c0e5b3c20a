-- One HTTP/1.1 exchange over a socket of its own, through LuaJIT's FFI: the
-- fuzzer's looks at the Qdrant and Chroma servers (a dozen a step) without
-- a shell and a curl process each. Plain http:// to an IPv4 address only;
-- the answer is read to the end (Connection: close), chunked or not.
--
--   local HTTP = require("http")
--   local status, body = HTTP.request("http://127.0.0.1:6333", "GET", "/collections")
--   -- status nil: body says why (cannot connect, ...)
local ffi = require("ffi")
local bit = require("bit")

ffi.cdef [[
struct fz_sockaddr_in { uint16_t family; uint16_t port; uint32_t addr; uint8_t zero[8]; };
int socket(int domain, int type, int protocol);
int connect(int fd, const struct fz_sockaddr_in *addr, uint32_t len);
long write(int fd, const void *buf, size_t n);
long read(int fd, void *buf, size_t n);
int close(int fd);
int inet_pton(int af, const char *src, void *dst);
]]

local H = {}
local AF_INET, SOCK_STREAM, EINTR = 2, 1, 4
local buf = ffi.new("uint8_t[65536]")

local function dechunk(s)
  local out, at = {}, 1
  while true do
    local size, nx = s:match("^(%x+)[^\r\n]*\r\n()", at)
    if not size then return nil end
    size = tonumber(size, 16)
    if size == 0 then return table.concat(out) end
    out[#out + 1] = s:sub(nx, nx + size - 1)
    at = nx + size + 2
  end
end

-- status, body (or nil, why)
function H.request(url, method, path, body)
  local host, port = url:match("^http://(%d+%.%d+%.%d+%.%d+):(%d+)/?$")
  if not host then return nil, "http.lua: only http://IPv4:port, not " .. url end
  local sa = ffi.new("struct fz_sockaddr_in")
  sa.family = AF_INET
  port = tonumber(port)
  sa.port = bit.bor(bit.rshift(port, 8), bit.lshift(bit.band(port, 0xff), 8))
  assert(ffi.C.inet_pton(AF_INET, host, ffi.cast("void *", ffi.cast("uint8_t *", sa) + 4)) == 1)
  local fd = ffi.C.socket(AF_INET, SOCK_STREAM, 0)
  if fd < 0 then return nil, "socket: errno " .. ffi.errno() end
  if ffi.C.connect(fd, sa, ffi.sizeof(sa)) ~= 0 then
    local e = ffi.errno()
    ffi.C.close(fd)
    return nil, "connect to " .. url .. ": errno " .. e
  end
  body = body or ""
  local req = string.format("%s %s HTTP/1.1\r\nHost: %s:%d\r\nConnection: close\r\n"
    .. "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", method, path, host, port, #body, body)
  local at = 0
  while at < #req do
    local n = ffi.C.write(fd, ffi.cast("const char *", req) + at, #req - at)
    if n < 0 and ffi.errno() ~= EINTR then ffi.C.close(fd) return nil, "write: errno " .. ffi.errno() end
    if n > 0 then at = at + n end
  end
  local parts = {}
  while true do
    local n = ffi.C.read(fd, buf, 65536)
    if n == 0 then break end
    if n < 0 then
      if ffi.errno() ~= EINTR then ffi.C.close(fd) return nil, "read: errno " .. ffi.errno() end
    else
      parts[#parts + 1] = ffi.string(buf, n)
    end
  end
  ffi.C.close(fd)
  local resp = table.concat(parts)
  local head, rest = resp:match("^(.-\r\n)\r\n(.*)$")
  local status = head and tonumber(head:match("^HTTP/1%.%d (%d+)"))
  if not status then return nil, "no HTTP answer from " .. url .. ": " .. resp:sub(1, 200) end
  if head:lower():find("\r\ntransfer%-encoding: *chunked") then
    rest = dechunk(rest)
    if not rest then return nil, "a chunked answer cut short from " .. url end
  end
  return status, rest
end

return H
