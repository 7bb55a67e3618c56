return { run = function(task) return { shipped = task.input.qty } end }
