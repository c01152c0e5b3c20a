local H = require("spec.helpers")

describe("coco update on the docs flow", function()
  after_each(H.cleanup)

  it("indexes a folder into SQLite and re-runs incrementally", function()
    local d = H.tmpdir()
    H.write(d .. "/flow.lua", H.docs_flow())
    H.write(d .. "/docs/a.md", "# A\n\nHello world.\n")
    H.write(d .. "/docs/b.txt", "Just text.\n")
    local rc, out, err = H.coco(d, "flow.lua --json")
    assert.are.equal(0, rc, err)
    local s = H.json_lines(out)[1]
    assert.are.equal(2, s.added)
    local rows = H.sql(d .. "/index.sqlite", "SELECT filename, text FROM DocsIndex__doc_chunks ORDER BY filename")
    assert.are.same({ { filename = "a.md", text = "# A\n\nHello world." }, { filename = "b.txt", text = "Just text." } }, rows)
    rc, out = H.coco(d, "flow.lua --json")
    s = H.json_lines(out)[1]
    assert.are.equal(0, rc)
    assert.are.equal(2, s.unchanged)
    assert.are.equal(0, s.added + s.updated + s.deleted)
  end)
end)
