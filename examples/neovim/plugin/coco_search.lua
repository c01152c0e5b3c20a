-- :CocoIndex [dir]   index dir (default: the current directory) and keep it fresh
-- :CocoSearch text   search the index; hits go to the quickfix list
-- :CocoStatus        what the index is doing
-- :CocoStop          stop indexing (the index stays for next time)
if vim.g.loaded_coco_search then return end
vim.g.loaded_coco_search = true

local function cs() return require("coco_search") end

vim.api.nvim_create_user_command("CocoIndex", function(a)
  cs().start(a.args ~= "" and a.args or nil)
end, { nargs = "?", complete = "dir" })
vim.api.nvim_create_user_command("CocoSearch", function(a) cs().search(a.args) end, { nargs = "+" })
vim.api.nvim_create_user_command("CocoStatus", function()
  print(vim.inspect(cs().status()))
end, {})
vim.api.nvim_create_user_command("CocoStop", function() cs().stop() end, {})
vim.api.nvim_create_autocmd("VimLeavePre", { callback = function() cs().stop() end })
