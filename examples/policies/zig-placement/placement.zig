//! Fleetward placement policy written in Zig (ABI v1, see docs/abi.md).
//!
//! Picks the least-loaded seed (clusters / capacity) among the ready candidates with free
//! capacity, preferring those in the region named by the tenant config's `preferred_region`.
//! Ties go to the first seed by name (the host sends candidates sorted by name), so the answer
//! depends only on the input envelope.
//!
//! Targets Zig 0.14.1 (std.json.parseFromSliceLeaky / std.json.stringify); the std.json and
//! writer APIs changed in 0.15, so the build script pins 0.14.1.

const std = @import("std");
const json = std.json;

/// Memory for input envelopes and everything a call allocates. Every call runs in a fresh
/// instance, so nothing is ever freed.
const gpa = std.heap.wasm_allocator;

export fn fleetward_abi_version() i32 {
    return 1;
}

/// Returns a pointer to `len` writable bytes, or 0 when out of memory.
export fn fleetward_alloc(len: i32) i32 {
    if (len < 0) return 0;
    const buf = gpa.alloc(u8, @intCast(len)) catch return 0;
    return @intCast(@intFromPtr(buf.ptr));
}

/// Placement decision entry point.
export fn fleetward_place(ptr: i32, len: i32) i64 {
    const input = slice(ptr, len);
    var arena = std.heap.ArenaAllocator.init(gpa);
    const out = place(arena.allocator(), input) catch |err| switch (err) {
        error.OutOfMemory => return 0,
    };
    return pack(out);
}

/// Config check at bind time: `preferred_region`, if present, must be a non-empty string.
export fn fleetward_validate_config(ptr: i32, len: i32) i64 {
    const input = slice(ptr, len);
    var arena = std.heap.ArenaAllocator.init(gpa);
    const alloc = arena.allocator();
    const out = validateConfig(alloc, input) catch return 0;
    return pack(out);
}

fn slice(ptr: i32, len: i32) []const u8 {
    const p: [*]const u8 = @ptrFromInt(@as(usize, @as(u32, @bitCast(ptr))));
    return p[0..@as(usize, @as(u32, @bitCast(len)))];
}

fn pack(out: []const u8) i64 {
    const p: u64 = @intCast(@intFromPtr(out.ptr));
    return @bitCast((p << 32) | @as(u64, @intCast(out.len)));
}

const Reply = struct {
    code: []const u8,
    message: []const u8,
};

fn errorEnvelope(alloc: std.mem.Allocator, code: []const u8, message: []const u8) ![]const u8 {
    return json.stringifyAlloc(alloc, .{ .@"error" = Reply{ .code = code, .message = message } }, .{});
}

const Decision = struct {
    seed: []const u8,
    reason: []const u8,
};

/// Reads `config.preferred_region`: null when absent, error when not a non-empty string.
fn preferredRegion(envelope: json.Value) error{InvalidConfig}!?[]const u8 {
    const config = switch (envelope) {
        .object => |o| o.get("config") orelse return null,
        else => return null,
    };
    switch (config) {
        .null => return null,
        .object => |o| {
            const region = o.get("preferred_region") orelse return null;
            switch (region) {
                .null => return null,
                .string => |s| return if (s.len == 0) error.InvalidConfig else s,
                else => return error.InvalidConfig,
            }
        },
        else => return error.InvalidConfig,
    }
}

fn validateConfig(alloc: std.mem.Allocator, input: []const u8) ![]const u8 {
    const envelope = json.parseFromSliceLeaky(json.Value, alloc, input, .{}) catch
        return errorEnvelope(alloc, "invalid_request", "input envelope is not valid JSON");
    _ = preferredRegion(envelope) catch
        return errorEnvelope(alloc, "invalid_config", "preferred_region must be a non-empty string");
    return json.stringifyAlloc(alloc, .{ .ok = null }, .{});
}

fn field(v: json.Value, name: []const u8) ?json.Value {
    return switch (v) {
        .object => |o| o.get(name),
        else => null,
    };
}

fn int(v: ?json.Value) ?i64 {
    const x = v orelse return null;
    return switch (x) {
        .integer => |i| i,
        else => null,
    };
}

fn str(v: ?json.Value) ?[]const u8 {
    const x = v orelse return null;
    return switch (x) {
        .string => |s| s,
        else => null,
    };
}

const Seed = struct {
    name: []const u8,
    region: []const u8,
    clusters: i64,
    capacity: i64,

    /// True when `self` is strictly less loaded than `other` (compares ratios exactly).
    fn lessLoaded(self: Seed, other: Seed) bool {
        return self.clusters * other.capacity < other.clusters * self.capacity;
    }
};

fn place(alloc: std.mem.Allocator, input: []const u8) error{OutOfMemory}![]const u8 {
    const envelope = json.parseFromSliceLeaky(json.Value, alloc, input, .{}) catch |err| switch (err) {
        error.OutOfMemory => return error.OutOfMemory,
        else => return errorEnvelope(alloc, "invalid_request", "input envelope is not valid JSON"),
    };
    const preferred = preferredRegion(envelope) catch
        return errorEnvelope(alloc, "invalid_config", "preferred_region must be a non-empty string");
    const request = field(envelope, "request") orelse
        return errorEnvelope(alloc, "invalid_request", "missing request");
    const seeds = switch (field(request, "seeds") orelse json.Value{ .null = {} }) {
        .array => |a| a.items,
        else => return errorEnvelope(alloc, "invalid_request", "request.seeds must be an array"),
    };

    var best: ?Seed = null;
    var best_preferred: ?Seed = null;
    var eligible: usize = 0;
    for (seeds) |s| {
        const ready = switch (field(s, "ready") orelse json.Value{ .null = {} }) {
            .bool => |b| b,
            else => false,
        };
        const seed = Seed{
            .name = str(field(s, "name")) orelse
                return errorEnvelope(alloc, "invalid_request", "seed without a name"),
            .region = str(field(s, "region")) orelse "",
            .clusters = int(field(s, "clusters")) orelse 0,
            .capacity = int(field(s, "capacity")) orelse 0,
        };
        if (!ready or seed.clusters >= seed.capacity) continue;
        eligible += 1;
        if (best == null or seed.lessLoaded(best.?)) best = seed;
        if (preferred) |region| {
            if (std.mem.eql(u8, seed.region, region) and
                (best_preferred == null or seed.lessLoaded(best_preferred.?)))
            {
                best_preferred = seed;
            }
        }
    }

    const chosen = best_preferred orelse best orelse {
        const message = try std.fmt.allocPrint(
            alloc,
            "no ready seed with free capacity among {d} candidates",
            .{seeds.len},
        );
        return errorEnvelope(alloc, "no_candidate", message);
    };
    const reason = if (best_preferred != null)
        try std.fmt.allocPrint(alloc, "least loaded in preferred region {s} ({d}/{d} clusters)", .{ chosen.region, chosen.clusters, chosen.capacity })
    else if (preferred) |region|
        try std.fmt.allocPrint(alloc, "least loaded of {d} seeds, none in preferred region {s} ({d}/{d} clusters)", .{ eligible, region, chosen.clusters, chosen.capacity })
    else
        try std.fmt.allocPrint(alloc, "least loaded of {d} seeds ({d}/{d} clusters)", .{ eligible, chosen.clusters, chosen.capacity });
    return json.stringifyAlloc(alloc, .{ .ok = Decision{ .seed = chosen.name, .reason = reason } }, .{});
}
